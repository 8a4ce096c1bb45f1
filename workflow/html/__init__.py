"""The HTML report page of one target: tables, SVG charts and retrieved neighbours, one file.

The page needs nothing but a browser: the CSS is inline, the charts are SVG written here
(no plotting library), and the thumbnails are base64 JPEG ``data:`` URIs. Every function but
``neighbours.thumbnail_uri``, ``neighbours.read_class_names`` and ``curves.read_epochs`` is
pure: data frames and arrays in, HTML text out, so that the pieces are testable one by one.

Sections, in page order: key figures; the results table (last iteration of every method,
mean +- std over seeds, a forest plot of the seeds); the paired differences of selective and
fusion to every other method, with 95% intervals and verdicts; accuracy per iteration; the
training curves of every run (given its epochs.csv); how hard-sample mining grows K; per filter
bank, the top retrieved source images of a few training images of every target class; and the
leakage audit.

Modules: ``text`` (numbers and names as HTML text), ``methods`` (the main and reference
methods, metrics, colours), ``charts`` (SVG charts), ``results`` (key figures, results and
paired tables, accuracy curves), ``curves`` (training curves per epoch), ``mining`` (K per
iteration), ``neighbours`` (the retrieved images), ``leakage`` (the audit), ``page`` (the CSS
and the whole page).
"""
