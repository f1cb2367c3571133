"""Rebuild sample_data/fmnist_sample.npz from the official Fashion-MNIST IDX files:
the first 300 training and first 100 test images of each class, in file order."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lakd.data import SAMPLE_FILE, first_per_class, load_fashion_mnist  # noqa: E402

full = load_fashion_mnist(sys.argv[1] if len(sys.argv) > 1 else None)
tr, te = full.train, full.test
tr_keep = first_per_class(tr.labels, 300)
te_keep = first_per_class(te.labels, 100)
unpad = slice(2, 30)  # the bundle keeps the original 28x28 images
np.savez_compressed(
    SAMPLE_FILE,
    train_images=tr.images[tr_keep, 0, unpad, unpad].numpy(), train_labels=tr.labels[tr_keep].numpy().astype(np.uint8),
    test_images=te.images[te_keep, 0, unpad, unpad].numpy(), test_labels=te.labels[te_keep].numpy().astype(np.uint8),
)
print(f"wrote {SAMPLE_FILE} ({SAMPLE_FILE.stat().st_size / 1e6:.2f} MB): {len(tr_keep)} train, {len(te_keep)} test")
