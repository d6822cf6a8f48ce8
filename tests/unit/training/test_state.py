"""The progress counters of last.pt, as saved by this release and by earlier ones."""

from __future__ import annotations

import dataclasses

from seq2seq.training.state import Progress


def test_progress_round_trips_through_its_saved_form():
    progress = Progress(epoch=3, step=40, best_score=12.5, history=[{"bleu": 12.5}], best_model="epoch 3")
    assert Progress.from_saved(dataclasses.asdict(progress)) == progress


def test_a_last_pt_written_before_best_score_was_named_resumes_with_its_best():
    saved = dataclasses.asdict(Progress(epoch=3, step=40, bad_validations=2))
    saved["best_bleu"] = saved.pop("best_score")  # what the release before it wrote
    saved["best_bleu"] = 17.25
    progress = Progress.from_saved(saved)
    assert progress.best_score == 17.25 and progress.bad_validations == 2 and progress.step == 40
