import React from "react";
import { createRoot } from "react-dom/client";
import { withStreamlitConnection } from "streamlit-component-lib";
import CanvasComponent from "./CanvasComponent";

const ConnectedCanvas = withStreamlitConnection(CanvasComponent);

createRoot(document.getElementById("root")).render(
  <React.StrictMode>
    <ConnectedCanvas />
  </React.StrictMode>,
);
