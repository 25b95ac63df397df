-- The experiment warehouse. Every statement is idempotent; pipeline/warehouse/store.py runs this
-- file whenever it creates a warehouse. Times are UTC. Documented for users in README.md.

create table if not exists warehouse_meta (
    key varchar primary key,
    value varchar not null
);

create sequence if not exists study_id_seq start 1;

create table if not exists studies (
    study_id integer primary key default nextval('study_id_seq'),
    name varchar not null unique,
    kind varchar not null check (kind in ('ensemble', 'bohb', 'hyperband', 'random_search', 'import')),
    search_space json,
    settings json not null,
    seed bigint,
    code_version varchar,
    created_at timestamp not null,
    finished_at timestamp
);

create table if not exists runs (
    run_id bigint primary key,
    study_id integer not null,
    trial integer not null,
    status varchar not null check (status in ('ok', 'diverged', 'failed')),
    error varchar,
    dataset varchar,
    test_accuracy double,
    test_loss double,
    train_accuracy double,
    train_loss double,
    epochs integer,
    train_seconds double,
    wall_seconds double,
    parameter_count bigint,
    flops_per_sample bigint,
    inference_ms_per_image double,
    seed bigint,
    device varchar,
    worker varchar,
    started_at timestamp,
    finished_at timestamp,
    bracket integer,
    bracket_s integer,
    round integer,
    round_index integer,
    budget double,
    config_id varchar,
    sampled_as varchar check (sampled_as in ('random', 'model_based', 'promoted')),
    submitted_at timestamp,
    loss double,
    unique (study_id, trial)
);

create table if not exists hyperparameters (
    run_id bigint not null,
    name varchar not null,
    value varchar not null,
    value_num double
    -- (run_id, name) is unique, checked by the tests: an index on millions of long rows would
    -- halve the table importer's speed (BENCHMARKS.md)
);

create table if not exists curves (
    run_id bigint not null,
    epoch integer not null,
    train_loss double,
    train_accuracy double,
    val_loss double,
    val_accuracy double,
    learning_rate double,
    seconds double,
    primary key (run_id, epoch)
);

create table if not exists sweep_plan (
    study_id integer not null,
    bracket integer not null,
    bracket_s integer not null,
    round integer not null,
    configs integer not null,
    budget double not null,
    primary key (study_id, bracket, round)
);

create or replace view run_details as
select
    s.name as study,
    s.kind as study_kind,
    r.*
from runs as r
join studies as s using (study_id);

comment on table warehouse_meta is 'Facts about this file: schema_version, created_at, created_by.';
comment on table studies is 'One row per study: an ensemble, a sweep or an import. Every run belongs to one study.';
comment on column studies.study_id is 'Unique id of the study.';
comment on column studies.name is 'Name given with --study; unique. Its runs are also in the view study_<name>.';
comment on column studies.kind is 'ensemble, bohb, hyperband, random_search or import.';
comment on column studies.created_at is 'UTC time the study was created.';
comment on column studies.finished_at is 'UTC time the job completed every run asked for; null while running or stopped.';
comment on column studies.search_space is 'The space the study sampled from, as JSON: {name: {choices} or {low, high, log, integer}, optional when}.';
comment on column studies.settings is 'Everything else the job was run with (epochs, data shape, devices, ...), as JSON.';
comment on column studies.seed is 'Seed of the sampler: run trial i of a study always gets the same configuration.';
comment on column studies.code_version is 'git commit of the pipeline that created the study (with +dirty when uncommitted changes).';
comment on table runs is 'One row per trained network. Written in one transaction with its hyperparameters and curve.';
comment on column runs.run_id is 'Unique id of the run across the warehouse.';
comment on column runs.study_id is 'The study (studies.study_id) the run belongs to.';
comment on column runs.error is 'Why a run failed or diverged (exception text, or the non-finite loss and its epoch).';
comment on column runs.test_loss is 'Mean cross-entropy on the test split; null unless status = ok.';
comment on column runs.train_loss is 'Mean training cross-entropy over the last completed epoch.';
comment on column runs.parameter_count is 'Trainable parameters of the network.';
comment on column runs.device is 'torch device it trained on: cpu, cuda:0, ...';
comment on column runs.started_at is 'UTC time the worker started the run.';
comment on column runs.finished_at is 'UTC time the worker finished the run.';
comment on column runs.submitted_at is 'Hyperband: UTC time the optimizer submitted the evaluation.';
comment on column runs.trial is 'Index of the run inside its study (ensemble member, or order of evaluation in a sweep); unique per study.';
comment on column runs.status is 'ok, diverged (loss became NaN or inf: test metrics empty, curve up to there) or failed (exception, see error).';
comment on column runs.dataset is 'Dataset the network was trained on (never a row of hyperparameters).';
comment on column runs.test_accuracy is 'Accuracy on the held-out test split, 0..1; null unless status = ok.';
comment on column runs.train_accuracy is 'Running accuracy over the last training epoch (augmented batches), 0..1.';
comment on column runs.epochs is 'Epochs completed.';
comment on column runs.train_seconds is 'Seconds in the training loop (validation each epoch included).';
comment on column runs.wall_seconds is 'Seconds from start to result, model build, FLOP count and test included.';
comment on column runs.flops_per_sample is 'Forward-pass FLOPs for one image (a multiply-add counts 2), by torch.utils.flop_counter.';
comment on column runs.inference_ms_per_image is 'Median forward time per image in a batch of 128, milliseconds, on runs.device.';
comment on column runs.seed is 'Seed of weight init, batch order and augmentation: rebuilds the network with pipeline.training.cnn.build_cnn.';
comment on column runs.worker is 'host:pid of the process that trained it.';
comment on column runs.bracket is 'Hyperband: iteration number of hpbandster (null outside sweeps).';
comment on column runs.bracket_s is 'Hyperband: s of the bracket (number of halvings it starts with).';
comment on column runs.round is 'Hyperband: successive-halving stage inside the bracket, from 0.';
comment on column runs.round_index is 'Hyperband: position of the configuration among those of its round, from 0, in hpbandster order (by config-id index).';
comment on column runs.budget is 'Hyperband: budget of this evaluation (epochs unless the space says otherwise).';
comment on column runs.config_id is 'hpbandster config id "(iteration, stage, index)".';
comment on column runs.sampled_as is 'random, model_based (from the BOHB KDE) or promoted (from the previous round).';
comment on column runs.loss is 'Objective the optimizer minimized: 1 - final validation accuracy for our sweeps, the logged loss for imports.';
comment on table sweep_plan is 'Successive-halving plan of a sweep, as hpbandster computes it: how many configurations each round of each bracket evaluates, on which budget.';
comment on column sweep_plan.study_id is 'The sweep (studies.study_id).';
comment on column sweep_plan.bracket is 'Hyperband iteration number, as runs.bracket.';
comment on column sweep_plan.bracket_s is 'Number of halvings the bracket starts with, as runs.bracket_s.';
comment on column sweep_plan.round is 'Successive-halving stage, from 0, as runs.round.';
comment on column sweep_plan.configs is 'Configurations planned for this round.';
comment on column sweep_plan.budget is 'Budget of each evaluation in this round, as runs.budget.';
comment on table hyperparameters is 'Hyperparameters stored long: one row per run and name. Inactive conditional ones are absent.';
comment on column hyperparameters.run_id is 'The run (runs.run_id).';
comment on column hyperparameters.name is 'Hyperparameter name, as in the study search space.';
comment on column hyperparameters.value is 'Text form of the value: strings as they are, numbers as written, booleans as true/false.';
comment on column hyperparameters.value_num is 'The value as a number when it is one (booleans 1/0), else null.';
comment on table curves is 'Per-epoch learning curve of a run.';
comment on column curves.run_id is 'The run (runs.run_id).';
comment on column curves.epoch is 'Epoch number, from 1.';
comment on column curves.train_accuracy is 'Running training accuracy over the epoch, 0..1.';
comment on column curves.val_accuracy is 'Accuracy on the validation split, 0..1.';
comment on column curves.train_loss is 'Mean training loss over the epoch.';
comment on column curves.val_loss is 'Loss on the validation split (held out from training data, not the test split).';
comment on column curves.learning_rate is 'Learning rate used during the epoch.';
comment on column curves.seconds is 'Wall seconds of the epoch, validation included.';
comment on view run_details is 'runs with the study name and kind. For hyperparameters as columns use the study view study_<name>.';
