"""Data stages: the embedded demo dataset, JPEG tree -> TFRecord conversion, indexing of existing
shards, and the tf.data input.

Submodules are imported on demand (nothing here imports TensorFlow). docs/data.md is the user guide.
  demo           write_demo_tree(): scikit-learn's digits as an ImageNet-style JPEG tree (host only)
  convert        convert(cfg) / verify(cfg): JPEG tree -> TF-slim shards + manifest.json,
                 resumable (host)
  sources        what conversion reads: classes, labels, every input file of both splits (host)
  annotations    synset lists, validation ground truth, ILSVRC bounding-box XML (host)
  names          source names must be UTF-8: the check where they enter, shown as \\xNN (host)
  pixels         max_image_pixels: the one image-size limit and its refusal (container too)
  images         check an image by one decode (1/8 scale for RGB JPEGs); keep its bytes or
                 re-encode it (host)
  shardwriter    the conversion worker: one shard + its sidecar, or reuse of a complete one (host)
  manifest       build / carry over / verify data/manifest.json (host)
  choice         which data a run uses: convert, an earlier conversion, or index (container too)
  layouts        the shard layouts read (TF-slim, TFDS imagenet2012): file names, feature keys
                 (container too)
  index          index(cfg): existing shards -> manifest in the run folder, shards never
                 written (host)
  shardscan      every record of a shard read once: framing, both CRCs, sha256 (host)
  recordcheck    what index requires of each record, and what it gathers for the manifest (host)
  exampleread    tf.train.Example parsing in plain Python, by protobuf's rules (no TensorFlow)
  example        tf.train.Example serialisation in plain Python (no TensorFlow)
  tfrecord       TFRecord framing into 1 MB chunks, atomic shard files, header walk, record
                 reading (container too)
  preprocessing  per-image crops, flips and normalisation (graph ops; Ascend container too)
  pipeline       train_dataset() / eval_dataset() per rank, shard checks (graph ops; Ascend
                 container too)
"""
