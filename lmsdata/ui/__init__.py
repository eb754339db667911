"""The dashboard's UI layer: the only part of `lmsdata` that imports streamlit.

`frame` (page config, navigation, settings, errors, the sidebar), `loaders` (cached reads keyed by
data version), `widgets` (shared pieces), `services` (the embedded demo, clients, mailers),
`actions` (sync, retry, invitations with plain-word outcomes), `confirm` (confirmations kept in
session state) and `progress` (a progress bar for long library calls).
"""
