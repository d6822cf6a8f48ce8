"""scripts/versus_opennmt.py: the figure it reads from OpenNMT-py's log and the ratios it prints."""

from __future__ import annotations

import importlib.util

import pytest
from helpers import ROOT

spec = importlib.util.spec_from_file_location("versus_opennmt", ROOT / "scripts" / "versus_opennmt.py")
versus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(versus)

LOG = """[INFO] Step 50/  150; acc: 9.1; ppl: 1901.2; bsz:  871/ 951/64; 1201/1312 tok/s;     47 sec;
[INFO] Step 100/  150; acc: 17.0; ppl: 602.3; bsz:  860/ 955/64; 1270/1410 tok/s;     89 sec;
[INFO] Step 150/  150; acc: 25.3; ppl: 303.8; bsz:  864/ 960/64; 1292/1437 tok/s;    131 sec;
"""


def test_the_peer_figure_is_the_target_side_of_the_report_at_the_last_update():
    assert versus.opennmt_target_tokens_per_s(LOG, 150) == 1437.0
    assert versus.opennmt_target_tokens_per_s(LOG, 100) == 1410.0


def test_a_run_that_never_reached_the_update_is_an_error_not_a_figure():
    with pytest.raises(SystemExit, match="no update 200"):
        versus.opennmt_target_tokens_per_s(LOG, 200)


def test_ratios_say_how_many_times_faster_ours_is_for_rates_and_for_seconds():
    # rates (tokens/s): ours / theirs; the rounds' own ratios are 2, 1.5, 3 -> median 2
    rates = versus.summary({"ours": [200, 300, 150], "opennmt": [100, 200, 50]}, faster_is_higher=True)
    assert rates["medians"] == {"ours": 200, "opennmt": 100}
    assert rates["ours_faster_by_medians"] == 2.0
    assert rates["ours_faster_pairwise_median"] == 2.0
    # seconds: theirs / ours; the rounds' ratios 4, 2, 2.5 -> median 2.5
    seconds = versus.summary({"ours": [10, 8, 12], "opennmt": [40, 16, 30]}, faster_is_higher=False)
    assert seconds["ours_faster_pairwise_median"] == 2.5
    # when the machine drifts between rounds the two differ: medians 20 / 12, rounds 3, 1.25, 1
    drift = versus.summary({"ours": [10, 12, 20], "opennmt": [30, 15, 20]}, faster_is_higher=False)
    assert drift["ours_faster_by_medians"] == round(20 / 12, 3)
    assert drift["ours_faster_pairwise_median"] == 1.25
