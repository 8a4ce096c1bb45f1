"""Selective joint fine-tuning (Ge & Yu, CVPR 2017) as a package: each module one idea of the paper.

``filterbank`` and ``histograms`` describe images by their low-level filter responses,
``retrieval`` finds the nearest source images, ``schedule`` decides how many each target image
borrows per iteration, ``joint`` trains on both at once, ``evaluation`` scores and fuses models,
``report`` tabulates the comparison; ``stages`` and ``cli`` turn them into workflow steps.
"""

__version__ = "0.1.0"
