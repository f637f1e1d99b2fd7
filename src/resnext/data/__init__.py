"""Data stages: the embedded demo dataset, JPEG tree -> TFRecord conversion, and the tf.data input.

Submodules are imported on demand (nothing here imports TensorFlow):
  demo           write_demo_tree(): scikit-learn's digits as an ImageNet-style JPEG tree (host only)
  convert        convert(cfg) / verify(cfg): JPEG tree -> TF-slim TFRecord shards + manifest.json (host only)
  tfrecord       TFRecord framing: atomic shard writer, record counting and reading
  preprocessing  per-image crops, flips and normalisation (graph ops; Ascend container too)
  pipeline       train_dataset() / eval_dataset() per rank (graph ops; Ascend container too)
"""
