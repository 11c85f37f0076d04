"""Measured comparisons for the image pipeline: ``make bench`` (``python -m benchmarks``).

Parts, one module each, all fed by inputs generated once per run (``inputs``):

  speed          the project's resize code (imaging.render) against naive Pillow and
                 pyvips ``thumbnail``, per rendition and for the whole set; quality check;
                 what each of the project's optimisations is worth
  memory         peak RSS growth per rendition, each measured in a fresh subprocess
  coldstart      importing the resize handler in a fresh interpreter; Lambda artifact sizes
  orchestration  state transitions and AWS requests per image, counted on the local stack
  prices         the one price table, and the pure cost arithmetic

``report`` renders everything into ``benchmarks/results.md``. Nothing here asserts on
time: the numbers are reported, with ratios against baselines run in the same process.
"""
