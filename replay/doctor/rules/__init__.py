"""One module per rule; `replay.doctor.registry.all_rules()` imports each of them."""
