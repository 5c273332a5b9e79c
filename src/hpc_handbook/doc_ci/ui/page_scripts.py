"""The JavaScript the walk runs in the page: the region a picture shows, the user's name replaced,
JupyterLab's version read."""

#: The box, in CSS pixels of the whole page, around every element the selectors match.
REGION_JS = """({selectors, padding}) => {
  const boxes = selectors.flatMap((s) => Array.from(document.querySelectorAll(s)))
    .map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0 && r.height > 0);
  if (!boxes.length) return null;
  const page = document.scrollingElement;
  const left = Math.max(0, Math.floor(Math.min(...boxes.map((b) => b.left)) + scrollX - padding));
  const top = Math.max(0, Math.floor(Math.min(...boxes.map((b) => b.top)) + scrollY - padding));
  const right = Math.min(Math.max(page.scrollWidth, innerWidth),
                         Math.ceil(Math.max(...boxes.map((b) => b.right)) + scrollX + padding));
  const bottom = Math.min(Math.max(page.scrollHeight, innerHeight),
                          Math.ceil(Math.max(...boxes.map((b) => b.bottom)) + scrollY + padding));
  return {x: left, y: top, width: right - left, height: bottom - top};
}"""


REPLACE_JS = """(pairs) => {
  const swap = (text) => pairs.reduce((t, [from, to]) => t.split(from).join(to), text);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const swapped = swap(node.nodeValue);
    if (swapped !== node.nodeValue) node.nodeValue = swapped;
  }
  for (const element of document.querySelectorAll('[title], [value], [aria-label], [placeholder]')) {
    for (const attribute of ['title', 'value', 'aria-label', 'placeholder']) {
      const value = element.getAttribute(attribute);
      if (value !== null && swap(value) !== value) element.setAttribute(attribute, swap(value));
    }
  }
}"""


VERSIONS_JS = """() => {
  const config = JSON.parse(document.getElementById('jupyter-config-data')?.textContent || '{}');
  return config.appVersion ? {jupyterlab: config.appVersion} : {};
}"""
