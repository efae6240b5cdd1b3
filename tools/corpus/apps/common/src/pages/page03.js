import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "03";
  el.textContent = greet("charlie") + " (3 of 24)";
}
