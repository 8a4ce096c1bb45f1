"""The HTML report page of one target: tables, SVG charts and retrieved neighbours, one file.

The page needs nothing but a browser: the CSS is inline, the charts are SVG written here
(no plotting library), and the thumbnails are base64 JPEG ``data:`` URIs. Every function but
``neighbours.thumbnail_uri`` and ``neighbours.read_class_names`` is pure: data frames and
arrays in, HTML text out, so that the pieces are testable one by one.

Sections, in page order: key figures; the results table (last iteration of every method,
mean +- std over seeds, a forest plot of the seeds); the paired differences of selective and
fusion to every other method, with 95% intervals and verdicts; accuracy per iteration; how
hard-sample mining grows K; and, per filter bank, the top retrieved source images of a few
training images of every target class.

Modules: ``text`` (numbers and names as HTML text), ``methods`` (the main and reference
methods, metrics, colours), ``charts`` (SVG charts), ``results`` (key figures, results and
paired tables, accuracy curves), ``mining`` (K per iteration), ``neighbours`` (the retrieved
images), ``page`` (the CSS and the whole page).
"""
