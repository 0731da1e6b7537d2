"""The cross-validation study: folds run through the bundle's configs, baselines, statistics and the report.

Nothing here runs inside a workflow except the group analysis (``analysis``) that evaluation summaries share.
"""
