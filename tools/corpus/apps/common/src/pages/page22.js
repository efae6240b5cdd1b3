import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "22";
  el.textContent = greet("victor") + " (22 of 24)";
}
