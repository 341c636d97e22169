"""bti/services/privacy: data-subject rights and retention (PRIV-01, PRIV-02, PRIV-05).

``export`` (the case export, innsyn, and who may have it), ``archive`` (the archive package of
a closed case), ``purge`` (retention: the purge, its tombstones and their journal).
"""
