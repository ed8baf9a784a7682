from include.common.run_conf import unknown_conf_message


def test_unknown_keys_are_named_with_the_allowed_ones():
    message = unknown_conf_message({"tabels": ["x"], "connections": []}, ["tables", "connections"])
    assert message == "run conf: unknown key(s) 'tabels'; allowed: connections, tables"


def test_known_keys_and_empty_conf_pass():
    assert unknown_conf_message({"tables": []}, ["tables"]) is None
    assert unknown_conf_message(None, ["tables"]) is None
    assert unknown_conf_message({}, []) is None
