"""MicroAttNet: the paper's Triple-Stream recogniser, its training and evaluation.

Only light names live here; torch is imported by the submodules that need it. The five classes are
`corpora.labels.CLASSES` (the datasets' label maps live beside them).
"""
