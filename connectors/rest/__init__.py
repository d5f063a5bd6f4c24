"""Any REST API returning JSON as a pull source, its resources declared in YAML (`bridge: rest`)."""
