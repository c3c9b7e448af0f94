"""Reports built from stored runs (the seed comparison), and runs taken to TensorBoard and MLflow: exported
afterwards (``export``) or tracked live while they train (``train --track``)."""
