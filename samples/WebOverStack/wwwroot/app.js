// Fetched after the page: the greeting shows only if a second request crossed the stack.
fetch("/api/greeting")
  .then((response) => response.json())
  .then((greeting) => {
    document.getElementById("greeting").textContent = greeting.text;
    document.body.dataset.loaded = "yes";
  });
