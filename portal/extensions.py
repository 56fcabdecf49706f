"""Flask extensions, created unbound here and bound to the app in the factory."""
from apifairy import APIFairy
from flask_login import LoginManager
from flask_marshmallow import Marshmallow
from flask_wtf.csrf import CSRFProtect

apifairy = APIFairy()
ma = Marshmallow()
login_manager = LoginManager()  # staff page sessions
csrf = CSRFProtect()  # staff forms; the bearer-token JSON API is not checked
