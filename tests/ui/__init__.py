"""The app: AppTest logic, the editor, the canvas component, untrusted text, and the browser tests."""
