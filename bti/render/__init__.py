"""Rendering: documents as PDF, XLSX, CSV and JSON bytes, without Flask.

A renderer takes a document that is already in the reader's words (a ``table.Report``, the
case export's dict) and returns bytes; it decides no access, writes no audit row and picks no
language. Words reach it through the caller: the service that builds the document translates
its labels with the ``i18n.Translator`` it is given (Flask-Babel's for the user's language in
the web layer, ``i18n.translations(lang)`` from the catalogues elsewhere).

One module per output format, so that each writer library has one home: ``pdf`` (fpdf2),
``xlsx`` (xlsxwriter), ``csvfile`` and ``jsonfile`` (the standard library; named so that no
module of bti shadows the standard ``csv`` and ``json``). ``table`` is the tabular report the
three table formats share.
"""
