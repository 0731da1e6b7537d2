"""Synthetic muscle cohorts: the shapes (``phantoms``), segmentation realism (``realism``) and the files (``cohort``).

No workflow needs this package except to generate the demo cohort on first use.
"""
