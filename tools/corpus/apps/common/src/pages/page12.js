import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "12";
  el.textContent = greet("lima") + " (12 of 24)";
}
