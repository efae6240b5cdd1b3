import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "19";
  el.textContent = greet("sierra") + " (19 of 24)";
}
