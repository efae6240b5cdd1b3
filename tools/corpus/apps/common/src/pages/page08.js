import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "08";
  el.textContent = greet("hotel") + " (8 of 24)";
}
