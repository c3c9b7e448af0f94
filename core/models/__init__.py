"""The networks: RNN / LSTM / GRU classifiers and their cells, checkpoints, the GMM-HMM baseline, word2vec."""
