import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "09";
  el.textContent = greet("india") + " (9 of 24)";
}
