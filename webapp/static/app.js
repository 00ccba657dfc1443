// Expand or collapse every branch of the alignment tree; the tree itself is <details> elements,
// so it works without this script too.
document.addEventListener("DOMContentLoaded", () => {
  const setAll = (open) => {
    document.querySelectorAll("#tree details").forEach((node) => { node.open = open; });
  };
  const expand = document.getElementById("expand-all");
  const collapse = document.getElementById("collapse-all");
  if (expand) expand.addEventListener("click", () => setAll(true));
  if (collapse) collapse.addEventListener("click", () => setAll(false));
});
