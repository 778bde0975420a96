"""The wider literature on low-dimensional training and compressibility (lessons 07-11).

One module per idea, each importable on its own:

* ``intrinsic_dimension``: training in a random subspace ``theta0 + P z`` (Li et al. 2018);
* ``pruning``: train large, then prune (Chang et al. 2021), made of ``pruning_model`` (the
  data model and the exact risk) and ``pruning_fits`` (least squares, pruning, retraining);
* ``heavy_tails``: SGD's heavy-tailed iterates and compressibility (Barsbey et al. 2021), read
  with ``kesten`` (the exact tail index of SGD) and ``tail_estimators`` (Hill, block sums);
* ``weight_averaging``: trainable weight averaging in the span of checkpoints (Li et al. 2023);
* ``compressibility``: effective rank, stable rank and sparsity measures (Ou et al. survey).
"""
