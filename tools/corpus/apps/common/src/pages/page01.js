import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "01";
  el.textContent = greet("alpha") + " (1 of 24)";
}
