"""The dashboard's UI layer: the only part of `lmsdata` that imports streamlit.

`frame` (page config, navigation, settings, errors), `loaders` (cached reads by data version),
`widgets` (shared pieces), `services` (the embedded demo, clients, mailers) and `actions` (sync,
retry, invite with progress and per-item results).
"""
