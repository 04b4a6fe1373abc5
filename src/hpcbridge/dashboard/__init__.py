"""The web dashboard (issue 13): every cluster's jobs, history, GPUs and logbook in one browser tab."""
