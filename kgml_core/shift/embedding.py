"""A low-dimensional view of units: principal components of standardised unit features."""
from __future__ import annotations

import pandas as pd
from sklearn.decomposition import PCA


def embed_units(features: pd.DataFrame, groups: pd.Series | None = None,
                n_components: int = 2) -> pd.DataFrame:
    """PCA of unit features (z-scored over units), for a scatter coloured by group.

    Parameters
    ----------
    features : (n_units, d) unit features, physical or already standardised.
    groups : optional group label per unit, added as column ``group``.

    Returns
    -------
    DataFrame indexed by unit with columns ``pc1`` ... ``pcN`` (and ``group``);
    ``attrs["explained_variance_ratio"]`` lists each component's share of variance
    and ``attrs["loadings"]`` maps component -> {feature: loading}.
    """
    n_components = min(n_components, *features.shape)
    if n_components < 1:
        raise ValueError("embedding needs at least one unit and one feature")
    z = (features - features.mean()) / features.std(ddof=0).replace(0.0, 1.0)
    pca = PCA(n_components).fit(z.to_numpy(float))
    cols = [f"pc{i + 1}" for i in range(n_components)]
    out = pd.DataFrame(pca.transform(z.to_numpy(float)), index=features.index, columns=cols)
    if groups is not None:
        out["group"] = groups.astype(str).reindex(features.index).to_numpy()
    out.attrs["explained_variance_ratio"] = [float(v) for v in pca.explained_variance_ratio_]
    out.attrs["loadings"] = {c: dict(zip(features.columns, map(float, row)))
                             for c, row in zip(cols, pca.components_)}
    return out
