// What the admin pages do better with JavaScript (issue #16, phone first); each
// page works without it.
(() => {
  // The menu folds behind a "Menu" button on a phone; on a wide screen, or
  // without JavaScript, every link stays in view.
  const button = document.querySelector(".menu-toggle");
  const menu = document.getElementById("menu");
  if (button && menu) {
    const narrow = window.matchMedia("(max-width: 47.99rem)");
    const show = (open) => {
      button.setAttribute("aria-expanded", String(open));
      menu.classList.toggle("folded", !open);
    };
    button.hidden = false;
    show(!narrow.matches);
    narrow.addEventListener("change", () => show(!narrow.matches));
    button.addEventListener("click", () => show(button.getAttribute("aria-expanded") !== "true"));
  }
  // A "print" button (recovery codes): the inline onclick the CSP forbids, here.
  for (const printer of document.querySelectorAll(".print-page")) {
    printer.addEventListener("click", () => window.print());
  }
  // On a phone a table's rows stack as cards: each cell says which column it is.
  for (const table of document.querySelectorAll("table")) {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, index) => {
        if (heads[index] && cell.tagName === "TD" && !cell.dataset.label) {
          cell.dataset.label = heads[index];
        }
      });
    }
  }
})();
