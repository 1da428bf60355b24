"""NodeLoom's Streamlit app from a clone: `streamlit run app.py`. Installed, `nodeloom app` runs the
package's own `nodeloom/streamlit_app.py`; the views live in `ui/` (installed as `nodeloom.ui`)."""

from nodeloom.ui.main import main

main()
