"""The Streamlit script that `nodeloom app` runs: always the installed package's own entry, never an
`app.py` that happens to sit in the current folder."""

from nodeloom.ui.main import main

main()
