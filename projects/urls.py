from django.urls import path

from . import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_create, name="create"),
    path("<slug:slug>/", views.project_detail, name="detail"),
    path("<slug:slug>/members/add/", views.member_add, name="member_add"),
    path("<slug:slug>/members/<int:user_id>/role/", views.member_role, name="member_role"),
    path("<slug:slug>/members/<int:user_id>/remove/", views.member_remove, name="member_remove"),
]
