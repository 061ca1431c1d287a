"""Reproduce the paper's findings: named grids of train_mlm.py / train_cls.py runs (grids.py), a resumable runner
(run.py), the peers and analyses beside them (tfidf.py, committee.py, latency.py, unigram.py) and the report that
turns results/<grid>/*.json into RESULTS.md (report.py)."""
