"""Showing results to a person: contact sheets and side-by-side panels
(:mod:`~pipeline.gallery.sheets`) and loss curves (:mod:`~pipeline.gallery.curves`)."""
