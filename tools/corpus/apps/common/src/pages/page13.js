import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "13";
  el.textContent = greet("mike") + " (13 of 24)";
}
