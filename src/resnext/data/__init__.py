"""Data stages: the embedded demo dataset, JPEG tree -> TFRecord conversion, and the tf.data input.

Submodules are imported on demand (nothing here imports TensorFlow). docs/data.md is the user guide.
  demo           write_demo_tree(): scikit-learn's digits as an ImageNet-style JPEG tree (host only)
  convert        convert(cfg) / verify(cfg): JPEG tree -> TF-slim shards + manifest.json, resumable (host)
  sources        what conversion reads: classes, labels, every input file of both splits (host)
  annotations    synset lists, validation ground truth, ILSVRC bounding-box XML (host)
  images         check an image by one decode (1/8 scale for RGB JPEGs); keep its bytes or re-encode it (host)
  shardwriter    the conversion worker: one shard + its sidecar, or reuse of a complete one (host)
  manifest       build / carry over / verify data/manifest.json (host)
  example        tf.train.Example serialisation in plain Python (no TensorFlow)
  tfrecord       TFRecord framing into 1 MB chunks, atomic shard files, header walk, record reading (container too)
  preprocessing  per-image crops, flips and normalisation (graph ops; Ascend container too)
  pipeline       train_dataset() / eval_dataset() per rank, shard checks (graph ops; Ascend container too)
"""
