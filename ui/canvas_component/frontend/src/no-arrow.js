// Stands in for apache-arrow, which streamlit-component-lib imports only to decode dataframe
// arguments and encode dataframe values. This component exchanges plain JSON both ways, so the
// real library (about a third of the bundle) would never run; these fail loudly if that changes.

function jsonOnly() {
  throw new Error("the NodeLoom canvas exchanges JSON only; it was sent a dataframe");
}

export const tableFromIPC = jsonOnly;
export const tableToIPC = jsonOnly;
export const Type = {};
