"""Explainers behind one interface (DESIGN.md §6).

The explainers (gradients, SHAP, LIME, occlusion, feature visualization) land
with the xai issue; this package is importable so the layout is in place.
"""
