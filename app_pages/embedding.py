"""Embedding: which configurations are alike, and where among them do the good networks sit? PCA, t-SNE on request."""


import polars as pl
import streamlit as st

from pipeline.analysis import embedding
from pipeline.app import embedding_chart, study_views
from pipeline.app.selection import SCALE_HELP, SCALE_NAMES, SCALES
from pipeline.app.state import computed, current_scale, current_selection, sidebar, study_or_stop
from pipeline.app.study_frame import StudyError, StudyFrame, space_log_flags

FIT_LIMIT = 100_000  # PCA is fit on at most this many finished networks (a uniform sample beyond: ~25 ms of PCA)
TSNE_LIMIT = 2_000  # t-SNE places at most this many (a uniform sample): 70-140 s on 2 busy cores, once per version
METHODS = {"PCA": "PCA", "t-SNE": "t-SNE (on request)"}
SHORT_SCALE = {"raw": "test accuracy", "normalized": "normalized accuracy", "rank": "rank within dataset"}
# run_values' own columns; the hyperparameters follow them
RUN_COLUMNS = ("run_id", "dataset", "accuracy", "loss", "budget")


def _hyperparameters(frame: StudyFrame) -> dict[str, str]:
    """Column -> name of the hyperparameters in _embedding's points: positional names (hp0, hp1, ...) keep them
    apart from the run columns whatever they are called."""
    names = [p.name for p in frame.params[1:] if not p.run_column]  # params[0] is the dataset, a run column
    return {f"hp{i}": name for i, name in enumerate(names)}


def _embedding(frame: StudyFrame, *, method: str, limit: int) -> tuple[embedding.Embedding, int]:
    """The study's finished networks embedded (at most `limit` of them, a uniform sample), with their accuracy
    on every scale (so the sidebar's scale recolours without computing again), and how many finished."""
    values = study_views.run_values(frame, scale="raw", sample=limit if frame.runs > limit else None)
    hyperparameters = _hyperparameters(frame)
    # the hyperparameters are run_values' last columns
    values = values.rename(dict(zip(values.columns[len(RUN_COLUMNS):], hyperparameters)))
    scales = frame.query("run_values", columns=", ".join(
        ["run_id", *(f"accuracy_on('{scale}', study) as {scale}" for scale in SCALES)]), sample="")
    values = values.drop("accuracy").join(scales, on="run_id", how="left")
    log = space_log_flags(frame.study.get("search_space"))
    return embedding.embed(values, hyperparameters, method=method, log=log), scales.height


def _loadings(result: embedding.Embedding) -> None:
    """Which hyperparameters each PCA axis is made of: each one's share of the axis, then the signed weights."""
    loadings = result.loadings
    shares = embedding.axis_shares(loadings)
    st.markdown("**What the axes are made of**: each hyperparameter's share of an axis (its columns' squared "
                "weights; each axis sums to 100 %).")
    st.dataframe(shares.rename({"pc1": "share of PC1", "pc2": "share of PC2"}), hide_index=True,
                 column_config={c: st.column_config.ProgressColumn(c, format="percent", min_value=0, max_value=1)
                                for c in ("share of PC1", "share of PC2")})
    with st.expander("Weights of every feature column (the sign says which way it moves the point)"):
        weights = loadings.sort(pl.max_horizontal(pl.col("pc1").abs(), pl.col("pc2").abs()), descending=True)
        st.dataframe(weights.rename({"pc1": "PC1 weight", "pc2": "PC2 weight"}), hide_index=True,
                     column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                    for c in ("PC1 weight", "PC2 weight")})


def _axis_titles(result: embedding.Embedding) -> tuple[str, str]:
    if result.method != "PCA":
        return "t-SNE 1 (no unit: only who is near whom means something)", "t-SNE 2"
    titles = []
    for i, axis in enumerate(("pc1", "pc2")):
        makeup = ", ".join(f"{name} {share:.0%}" for name, share in embedding.axis_makeup(result.loadings, axis))
        titles.append(f"PC{i + 1} · {result.explained[i]:.0%} of the variance · mostly {makeup}")
    return titles[0], titles[1]


def _fields(result: embedding.Embedding, frame: StudyFrame, scale: str) -> list[tuple[str, str, str | None]]:
    """The tooltip: accuracy on the scale (and raw), dataset, budget where the study has budgets, every
    hyperparameter, the run id."""
    fields = [("accuracy", SHORT_SCALE[scale], ".3f")]
    if scale != "raw":
        fields.append(("raw", "test accuracy", ".3f"))
    fields.append(("dataset", "dataset", None))
    if frame.budgets:
        fields.append(("budget", "budget", ".4~g"))
    for column, name in _hyperparameters(frame).items():
        fields.append((column, name, ".4~g" if result.points[column].dtype.is_numeric() else None))
    fields.append(("run_id", "run id", "d"))
    return fields


def render() -> None:
    path = sidebar()
    st.title("Embedding")
    st.write("Every finished network's configuration as one point, placed so that networks with similar "
             "hyperparameters sit close together and coloured by accuracy: do the good ones gather somewhere?")
    frame = study_or_stop(path)
    scale = current_scale()  # the sidebar's accuracy scale, as on every page
    selection = current_selection()
    cols = st.columns([1, 2])
    method = cols[0].radio("Map", list(METHODS), format_func=METHODS.get, horizontal=True, key="embedding.method",
                           help="PCA: the two directions in which the configurations differ most; its axes are "
                                "mixtures of hyperparameters (the table below says which). t-SNE: neighbours kept "
                                f"near, distances and axes meaningless; computed on request for at most "
                                f"{TSNE_LIMIT:,} networks and then kept for this version of the study.")
    cols[1].markdown(f"Colour: **{SCALE_NAMES[scale]}** (change it in the sidebar).", help=SCALE_HELP)
    try:
        if method == "PCA":
            result, finished = computed(path, frame, _embedding, method="PCA", limit=FIT_LIMIT)
        else:
            with st.spinner(f"t-SNE of up to {TSNE_LIMIT:,} networks: one to two minutes on two cores, once for this "
                            "version of the study and budget choice…"):
                result, finished = computed(path, frame, _embedding, method="t-SNE", limit=TSNE_LIMIT)
    except (embedding.EmbeddingError, StudyError) as err:
        st.warning(f"No {method} map for this choice: {err}.")
        return
    points = result.points.with_columns(pl.col(scale).alias("accuracy"))
    if selection is not None:  # on the same scale: a selection fixes the sidebar's scale
        points = points.with_columns(pl.col("accuracy").is_between(selection.lo, selection.hi).alias("selected"))
    # the best on top; with a selection, its networks above the grey rest
    points = points.sort([*(["selected"] if selection is not None else []), "accuracy"], nulls_last=False)
    x_title, y_title = _axis_titles(result)
    st.vega_lite_chart(embedding_chart.scatter(points, scale=scale, x_title=x_title, y_title=y_title,
                                               fields=_fields(result, frame, scale), selected=selection is not None),
                       width="stretch")
    drawn = (f"all {points.height:,} finished networks drawn" if points.height == finished else
             f"{points.height:,} of {finished:,} finished networks drawn (a uniform sample)")
    if result.method == "PCA":
        fit = f"fit on all {result.runs:,}" if result.runs == finished else \
            f"fit on a uniform sample of {result.runs:,}"
        st.caption(f"PCA of the hyperparameters, {fit}; {drawn}. Each axis title says its share of the variance and "
                   "the hyperparameters it is mostly made of.")
    else:
        sample = f"all {result.runs:,}" if result.runs == finished else \
            f"a uniform sample of {result.runs:,} of {finished:,}"
        st.caption(f"t-SNE (scikit-learn, perplexity {result.perplexity:.0f}, PCA start, seed 0) of {sample} finished "
                   f"networks: took {result.seconds:.1f} s, kept until the study or the budget choice changes. "
                   "Near points have similar configurations; distances between clusters and the axes mean nothing.")
    if selection is not None:
        st.caption(f"Selection: {selection.label}; the other networks in grey, underneath.")
    feats = result.features
    st.caption(f"Features: {embedding.FEATURE_RULE}; {embedding.INACTIVE_RULE}. "
               + (f"On a log10 scale: {', '.join(feats.logged)}. " if feats.logged else "")
               + (f"Conditional: {', '.join(feats.conditional)}. " if feats.conditional else "")
               + (f"Left out (the same in every network): {', '.join(feats.dropped)}. " if feats.dropped else "")
               + "The dataset and the budget are not features: they are in the tooltip.")
    if result.method == "PCA":
        _loadings(result)


render()
