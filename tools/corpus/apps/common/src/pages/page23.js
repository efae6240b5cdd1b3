import { greet } from "../greet.js";

export default function render(el) {
  el.dataset.page = "23";
  el.textContent = greet("whiskey") + " (23 of 24)";
}
