import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "02";
  el.textContent = greet("bravo") + " (2 of 24)";
}
