"""NodeLoom's Streamlit app: `nodeloom app` (or `streamlit run app.py`). The views live in `ui/`."""

from ui.main import main

main()
